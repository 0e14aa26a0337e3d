#!/usr/bin/env node
// Runs the committed conformance vectors that a member signs by (docs/spec/vectors.md) through
// this member's own encoding and signing code: canonical encoding, requests, documents,
// transactions and block headers. Prints a line per kind; exits 1 if any vector differs.
//
//   node vectors.mjs [VECTORS_DIR]     (default: docs/spec/vectors of this repository)

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { canonical, keyFromSeed, requestHeaders, signDigest, signingDigest } from "./member.mjs";

const root = process.argv[2] ?? join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "docs", "spec", "vectors");
const DOMAINS = {
  ballot: "bppool/vote/v1",
  constitution_signature: "bppool/constitution/v1",
  ruling: "bppool/ruling/v1",
  application: "bppool/application/v1",
};

const checks = {
  "encoding/canonical": ({ value }, out) => {
    if (out.error) {
      try {
        canonical(value);
        return false; // refused there, not here (floats; integers beyond 64 bits)
      } catch {
        return true;
      }
    }
    return Buffer.from(canonical(value)).toString("hex") === out.hex;
  },
  "messages/request": (input, out) => {
    const headers = requestHeaders(keyFromSeed(input.seed), "alice", {
      chainId: input.chain_id, pool: input.pool, method: input.method, path: input.path,
      timestamp: input.timestamp, body: Buffer.from(input.body_hex, "hex"),
    });
    return headers["x-bp-signature"] === out.signature;
  },
  "messages/document": ({ kind, seed, document }, out) => {
    const payload = canonical(document);
    return Buffer.from(payload).toString("hex") === out.payload_hex &&
      signDigest(keyFromSeed(seed), signingDigest(DOMAINS[kind], payload)) === out.signature;
  },
  "messages/transaction": ({ seed, transaction }, out) => {
    const body = canonical(transaction);
    const digest = signingDigest("bppool/tx/v1", body);
    return Buffer.from(body).toString("hex") === out.body_hex &&
      digest.toString("hex") === out.signing_digest &&
      signDigest(keyFromSeed(seed), digest) === out.signature;
  },
  "messages/block_header": ({ header, producer_seed, builder_seed }, out) => {
    const bytes = canonical(header);
    return Buffer.from(bytes).toString("hex") === out.canonical_hex &&
      signDigest(keyFromSeed(producer_seed), signingDigest("bppool/block/v1", bytes)) === out.producer_signature &&
      signDigest(keyFromSeed(builder_seed), signingDigest("bppool/candidate/v1", bytes)) === out.builder_signature;
  },
};

let failed = 0;
for (const [kind, check] of Object.entries(checks)) {
  const dir = join(root, ...kind.split("/"));
  const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  const bad = files.filter((f) => {
    const vector = JSON.parse(readFileSync(join(dir, f), "utf8"));
    return !check(vector.input, vector.output);
  });
  failed += bad.length;
  console.log(`${kind}: ${files.length - bad.length}/${files.length} match${bad.length ? ` (differ: ${bad.join(", ")})` : ""}`);
}
process.exit(failed ? 1 : 0);

#!/usr/bin/env node
// A bppool pool member in JavaScript (Node.js 20, no dependency but its built-in modules),
// written from the wire spec in docs/spec/: it applies to join a pool, follows the pool's slot
// feed, has its own chain node build each slot's candidate (POST /v1/producer/build_candidate),
// signs it as builder and delivers it, and prints what came of it.
//
//   node member.mjs --devnet DATA_DIR/external.json [--account NAME] [--slots N] [--json]
//   node member.mjs --key-file KEY.json --node-url URL --emitter-url URL [--slots N] [--json]
//
// Sections of the spec are named where they are followed (encoding.md §…, pool.md §…).

import { createHash, createPrivateKey, createPublicKey, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

// --- encoding.md: canonical JSON, digests, ed25519 ----------------------------------------

/** Canonical bytes: keys sorted, no whitespace, integers only (encoding.md, canonical encoding). */
export function canonical(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    // Integers only; JSON.parse keeps integers exact up to 2^53 (beyond: BigInt, not needed here).
    if (!Number.isInteger(value) || Math.abs(value) > 2 ** 53) throw new Error(`not a canonical integer: ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  throw new Error(`not a JSON value: ${typeof value}`);
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

/** The 32 bytes that are signed: sha256(domain || 0x00 || payload) (encoding.md, signatures). */
export function signingDigest(domain, payload) {
  return sha256(Buffer.concat([Buffer.from(domain), Buffer.from([0]), Buffer.from(payload)]));
}

/** An ed25519 key from its 32-byte seed (hex), with its public key as hex. */
export function keyFromSeed(seedHex) {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seedHex, "hex")]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { privateKey, publicKey: spki.subarray(spki.length - 32).toString("hex") };
}

export const signDigest = (key, digest) => sign(null, digest, key.privateKey).toString("hex");

// --- pool.md / encoding.md: signed requests and documents ---------------------------------

/** The X-BP-* headers of a signed request (encoding.md, request signing). */
export function requestHeaders(key, member, { chainId, pool, method, path, timestamp, body }) {
  const payload = canonical({
    chain_id: chainId,
    pool,
    method: method.toUpperCase(),
    path,
    timestamp,
    body_sha256: sha256(body).toString("hex"),
  });
  return {
    "x-bp-member": member,
    "x-bp-timestamp": String(timestamp),
    "x-bp-signature": signDigest(key, signingDigest("bppool/request/v1", payload)),
  };
}

/** A signed document: the canonical body without its signature, under the document's domain. */
function signDocument(key, domain, fields) {
  return { ...fields, signature: signDigest(key, signingDigest(domain, canonical(fields))) };
}

// --- HTTP ----------------------------------------------------------------------------------

class Refused extends Error {
  constructor(status, error) {
    super(`${status} ${error?.code}: ${error?.message}`);
    this.status = status;
    this.code = error?.code;
  }
}

async function call(base, method, path, { body = null, signedBy = null, ctx = null } = {}) {
  const raw = body === null ? Buffer.alloc(0) : Buffer.from(canonical(body));
  const headers = body === null ? {} : { "content-type": "application/json" };
  if (signedBy) {
    Object.assign(headers, requestHeaders(signedBy.key, signedBy.account, {
      chainId: ctx.chainId, pool: ctx.pool, method, path, timestamp: Date.now(), body: raw,
    }));
  }
  const response = await fetch(base + path, {
    method, headers, body: body === null ? undefined : raw, signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { code: `http_${response.status}`, message: text.slice(0, 200) } }; // a plain-text 5xx
  }
  if (!response.ok) throw new Refused(response.status, data?.error);
  return data;
}

/** Server-sent events of a signed GET, as {event, data} objects (pool.md, the slot feed). */
async function* events(base, path, signedBy, ctx) {
  const headers = requestHeaders(signedBy.key, signedBy.account, {
    chainId: ctx.chainId, pool: ctx.pool, method: "GET", path, timestamp: Date.now(), body: Buffer.alloc(0),
  });
  const response = await fetch(base + path, { headers: { ...headers, accept: "text/event-stream" } });
  if (!response.ok) throw new Refused(response.status, (await response.json()).error);
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let data = [];
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
        event = "message";
        data = [];
      } else if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the member ------------------------------------------------------------------------------

export class Member {
  constructor({ account, seed, nodeUrl, emitterUrl, log = () => {} }) {
    this.account = account;
    this.key = keyFromSeed(seed);
    this.nodeUrl = nodeUrl;
    this.emitterUrl = emitterUrl;
    this.log = log;
    this.figures = { slots: 0, deliveries: 0, accepted: 0, wins: 0, rejections: 0, rejected_by: {}, build_retries: 0 };
    this.mine = new Set(); // slots this member delivered for
  }

  get signer() {
    return { key: this.key, account: this.account };
  }

  /** Join (pool.md, a member's life): apply with the constitution's hash, until active. */
  async join() {
    const info = await call(this.emitterUrl, "GET", "/v1/pool/info");
    this.ctx = { chainId: info.chain_id, pool: info.pool };
    const application = signDocument(this.key, "bppool/application/v1", {
      chain_id: info.chain_id,
      pool: info.pool,
      account: this.account,
      public_key: this.key.publicKey,
      endpoint: "js-member",
      constitution_hash: info.constitution_hash,
      timestamp: Date.now(),
    });
    // 202 with the status after it (pool.md §3.4): a founder is active at once, an applicant
    // waits for admission; applying again keeps the status.
    const applied = await call(this.emitterUrl, "POST", "/v1/pool/apply", { body: application });
    if (applied.status === "active") return;
    for (let i = 0; i < 300; i++) {
      const me = await call(this.emitterUrl, "GET", "/v1/pool/members/me", { signedBy: this.signer, ctx: this.ctx });
      if (me.status === "active") return;
      await sleep(200);
    }
    throw new Error(`${this.account} was not admitted to the pool`);
  }

  /** One pool slot (pool.md, building and delivering): the node builds, this member signs. */
  async deliver(open) {
    const request = { slot: open.slot, producer: open.pool, builder: this.account, tx_seq: open.tx_seq ?? null };
    let built;
    for (;;) {
      built = await call(this.nodeUrl, "POST", "/v1/producer/build_candidate", {
        body: request, signedBy: this.signer, ctx: { chainId: this.ctx.chainId, pool: open.pool },
      });
      if (built.prev_id === open.prev_id) break;
      // The node has not applied the slot's parent yet (pool.md §5.6): again, until the deadline.
      if (Date.now() + 20 > open.deadline_ms) {
        this.log(`slot ${open.slot}: the node's head did not reach the slot's parent by the deadline`);
        return false;
      }
      this.figures.build_retries += 1;
      await sleep(10);
    }
    const block = built.block;
    const header = block.header;
    // Sign only what this slot asks for (pool.md §5.1): never whatever a node returns.
    const expected = { slot: open.slot, prev_id: open.prev_id, producer: open.pool, builder: this.account };
    for (const [field, value] of Object.entries(expected)) {
      if (header[field] !== value) throw new Error(`the node built ${field} ${header[field]}, not ${value}`);
    }
    if (built.signing_domain !== "bppool/candidate/v1") throw new Error(`unexpected domain ${built.signing_domain}`);
    const digest = signingDigest("bppool/candidate/v1", canonical(header));
    if (digest.toString("hex") !== built.signing_digest) throw new Error("the node's digest is not the header's");
    if (Date.now() > open.deadline_ms) {
      this.log(`slot ${open.slot}: built after the deadline; not delivered`); // pool.md §6.6
      return false;
    }
    block.builder_signature = signDigest(this.key, digest);
    this.figures.deliveries += 1;
    try {
      const verdict = await call(this.emitterUrl, "POST", "/v1/pool/candidates", {
        body: block, signedBy: this.signer, ctx: this.ctx,
      });
      this.figures.accepted += 1;
      this.log(`slot ${open.slot}: ${verdict.verdict}${verdict.selected ? " (emitted)" : ""} at ${verdict.offset_ms} ms`);
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      this.figures.rejections += 1;
      this.figures.rejected_by[error.code] = (this.figures.rejected_by[error.code] ?? 0) + 1;
      this.log(`slot ${open.slot}: refused, ${error.message}`);
    }
    return true;
  }

  /** Follow the feed for ``slots`` pool slots (pool.md, the slot feed), then stop. */
  async run(slots) {
    await this.join();
    const pending = new Set();
    const done = () => this.figures.slots >= slots && this.mine.size === 0 && pending.size === 0;
    const take = (open) => {
      // A slot once (re-openings skipped: a block on the new parent would need the old one
      // forgotten, pool.md §6.10), until the count is reached.
      if (this.figures.slots >= slots || this.mine.has(open.slot) || Date.now() > open.deadline_ms) return;
      this.figures.slots += 1;
      this.mine.add(open.slot);
      const work = this.deliver(open)
        .catch((error) => (this.log(`slot ${open.slot}: ${error.message}`), false))
        .then((delivered) => delivered || this.mine.delete(open.slot));
      pending.add(work);
      work.finally(() => pending.delete(work));
    };
    for await (const { event, data } of events(this.emitterUrl, "/v1/pool/slots/stream", this.signer, this.ctx)) {
      if (event === "hello" && data.open && !data.open.emitted) take({ ...data.open, tx_seq: null }); // pool.md §4.2
      else if (event === "slot_open" && !data.reopen) take(data);
      else if (event === "slot_closed" && this.mine.has(data.slot)) {
        this.mine.delete(data.slot);
        if (data.winner === this.account) this.figures.wins += 1;
      }
      if (this.figures.slots >= slots) {
        await Promise.all(pending);
        if (done()) break;
      }
    }
    await Promise.all(pending);
    return this.figures;
  }
}

// --- command line ------------------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    options: {
      devnet: { type: "string" },
      account: { type: "string" },
      "key-file": { type: "string" },
      "node-url": { type: "string" },
      "emitter-url": { type: "string" },
      slots: { type: "string", default: "20" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(readFileSync(new URL(import.meta.url)).toString().split("\n").slice(1, 9).join("\n"));
    return;
  }
  let { "key-file": keyFile, "node-url": nodeUrl, "emitter-url": emitterUrl } = values;
  if (values.devnet) {
    const devnet = JSON.parse(readFileSync(values.devnet, "utf8"));
    const account = values.account ?? Object.keys(devnet.members)[0];
    keyFile ??= devnet.members[account];
    nodeUrl ??= devnet.node_url;
    emitterUrl ??= devnet.emitter_urls[0];
  }
  if (!keyFile || !nodeUrl || !emitterUrl) throw new Error("give --devnet FILE, or --key-file, --node-url and --emitter-url");
  const slots = Number.parseInt(values.slots, 10);
  if (!(slots > 0)) throw new Error("--slots: a positive number of pool slots");
  const file = JSON.parse(readFileSync(keyFile, "utf8"));
  const member = new Member({
    account: file.account,
    seed: file.private_key,
    nodeUrl,
    emitterUrl,
    log: values.json ? () => {} : (line) => console.log(line),
  });
  if (member.key.publicKey !== file.public_key) throw new Error(`${keyFile}: the public key is not the private key's`);
  const figures = await member.run(slots);
  console.log(values.json ? JSON.stringify(figures) : `done: ${JSON.stringify(figures)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(`error: ${error.message}`);
    process.exit(1);
  });
}

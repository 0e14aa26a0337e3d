"""The shared service shell: HTTP serving, storage, keys, settings, supervision, metrics and the process runtime every service runs on."""

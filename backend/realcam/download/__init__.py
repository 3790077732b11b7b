"""`realcam download MODEL`: a known model's weights into the Hugging Face cache, size and licence first, resumable.

The repository is listed at one commit; the files the backend loads are picked (configs, tokenizers, the plain
safetensors weights: no fp16/bf16 variants beside them, no other weight formats where safetensors exist, no
top-level single-file checkpoints of a diffusers pipeline, no pictures or videos). Each missing file is fetched
over HTTP into `blobs/<etag>.incomplete` in the cache, continuing with a Range request from the bytes already
there, checked (sha256 for large files, the git object id for small ones) and put in the layout huggingface_hub
reads: blobs/, snapshots/<commit>/ (links to the blobs), refs/main, the last once every file is there. A stopped
download therefore goes on where it stopped, and a model counts as cached only when it is whole.

The hub is not trusted with this machine's files: every path it lists must stay inside the model's snapshot
folder, the commit must be 40 hex digits and each blob name a sha1 or sha256 in hex, a file is never written
past the size the listing gave it, and redirects go to https only (or http from an http HF_ENDPOINT, a local
mirror), with the token only to the origin it was meant for.

plan    what to fetch: the listing, the files picked and checked, the licence, what the cache holds
fetch   the bytes: HTTP with resume and safe redirects, checked, linked into the cache
"""

// Times aws-jwt-verify's ALB verifier on the tokens the Python harness wrote (see node.py).
// Input (stdin, JSON): {tokens, jwk, albArn, issuer, clientId, rounds, batch, repeats,
// packageVersion}.
// Output (stdout, JSON): median microseconds per call for each measurement.
"use strict";
const crypto = require("node:crypto");
const { AlbJwtVerifier } = require("aws-jwt-verify");

const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const verifier = AlbJwtVerifier.create({
  albArn: input.albArn,
  issuer: input.issuer,
  clientId: input.clientId,
});
verifier.cacheJwks({ keys: [input.jwk] }); // a local key: no fetch is ever made

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function perCallMicros(call, items, batch, rounds) {
  const samples = [];
  for (let round = 0; round < rounds; round++) {
    for (let start = 0; start + batch <= items.length; start += batch) {
      const began = process.hrtime.bigint();
      for (let i = start; i < start + batch; i++) call(items[i]);
      samples.push(Number(process.hrtime.bigint() - began) / batch / 1000);
    }
  }
  return median(samples);
}

// Node's own floor: one ES256 verification through node:crypto (OpenSSL), same messages.
const publicKey = crypto.createPublicKey({ key: input.jwk, format: "jwk" });
const floorItems = input.tokens.map((token) => {
  const cut = token.lastIndexOf(".");
  return [Buffer.from(token.slice(0, cut)), Buffer.from(token.slice(cut + 1), "base64url")];
});
const floor = ([message, signature]) =>
  crypto.verify("sha256", message, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature);

const verify = (token) => verifier.verifySync(token);
for (const token of input.tokens) verify(token); // warm up the JIT; also proves they all verify
const repeated = Array(input.repeats).fill(input.tokens[0]);
const result = {
  node: process.version,
  package: input.packageVersion,
  floor_us: perCallMicros(floor, floorItems, input.batch, input.rounds),
  fresh_us: perCallMicros(verify, input.tokens, input.batch, input.rounds),
  repeated_us: perCallMicros(verify, repeated, input.batch, 1),
};
process.stdout.write(JSON.stringify(result) + "\n");

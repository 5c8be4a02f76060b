// A collector client that is not this library: Node's built-in fetch, no packages.
// Usage: node collect_client.mjs URL TOKEN BODY_FILE [MAX_ATTEMPTS]
// Posts the file's bytes verbatim; retries on a network error, 429 or 5xx (honouring
// Retry-After, capped), as the seed's client should. Prints {"attempts", "status", "body"}.
import { readFileSync } from "node:fs";

const [url, token, file, maxAttempts = "10"] = process.argv.slice(2);
const body = readFileSync(file);
let attempts = 0;
let last = { status: 0, body: null };
while (attempts < Number(maxAttempts)) {
  attempts += 1;
  try {
    const response = await fetch(`${url}/events/batch`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body,
    });
    const text = await response.text();
    last = { status: response.status, body: text ? JSON.parse(text) : null };
    if (response.status < 500 && response.status !== 429) break;
    const wait = Math.min(Number(response.headers.get("retry-after") || "1"), 1);
    await new Promise((r) => setTimeout(r, wait * 100));
  } catch (err) {
    last = { status: -1, body: String(err) };
    await new Promise((r) => setTimeout(r, 50));
  }
}
process.stdout.write(JSON.stringify({ attempts, ...last }));

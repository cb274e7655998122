// The server's HTTP API (PLAYGROUND.md): JSON in, JSON out; relative URLs, so the page works under any prefix.

async function call(method, url, body, read = (response) => response.json()) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    throw new Error(answer.error || (answer.errors ? "the program has errors" : `${response.status} ${response.statusText}`));
  }
  return read(response);
}

export const architectures = () => call("GET", "api/architectures");
export const architecture = (name) => call("GET", `api/architecture/${encodeURIComponent(name)}`);
export const file = () => call("GET", "api/file");
export const save = (text) => call("PUT", "api/file", { text });
export const analyze = (request) => call("POST", "api/analyze", request);
export const render = (request, format) => call("POST", "api/render", { ...request, format }, (r) => r.blob());

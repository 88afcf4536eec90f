// Follows a dub's Server-Sent Events. fetch() rather than EventSource, so the API key header
// can be sent, Last-Event-ID is under our control across reconnects, and a 404 stops for good.

import { ApiError, apiKey, url } from "./api.js";

const MAX_BACKOFF_MS = 15000;

/**
 * Calls onEvent(type, data, id) for each event until the run being watched ends or close()
 * is called. A stream that drops is resumed from the last event id, with backoff.
 * finishedStatus() (async) returns the job's final status, or null while it still runs: a
 * replay from the start of a job's history holds the `done` of earlier runs, and a stream
 * resumed after the end closes without one; both are told apart by asking.
 * onState("live" | "reconnecting" | "closed") reports the connection.
 */
export function follow(
  path,
  { onEvent, onState = () => {}, onFatal = () => {}, finishedStatus = async () => "succeeded", lastEventId = null },
) {
  const controller = new AbortController();
  let lastId = lastEventId;
  let finished = false;
  let failures = 0;

  const run = async () => {
    while (!finished && !controller.signal.aborted) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (lastId !== null) headers["Last-Event-ID"] = String(lastId);
        const key = apiKey();
        if (key) headers.Authorization = `Bearer ${key}`;
        const response = await fetch(url(path), { headers, signal: controller.signal, cache: "no-store" });
        if (!response.ok) {
          let detail = null;
          try {
            detail = (await response.json()).detail;
          } catch {
            detail = null;
          }
          const error = new ApiError(response.status, detail || `Live updates failed (${response.status}).`);
          if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
            finished = true;
            onFatal(error);
            break;
          }
          throw error;
        }
        onState("live");
        failures = 0;
        let done = null;
        await readStream(response.body, (type, data, id) => {
          if (id !== null) lastId = id;
          if (type === "done") done = data;
          else onEvent(type, data, id);
        });
        const status = await finishedStatus();
        if (status) {
          finished = true;
          if (!controller.signal.aborted) onEvent("done", done || { status }, lastId);
          break;
        }
        if (done !== null) continue; // an earlier run's end, replayed: read on from after it
      } catch (error) {
        if (controller.signal.aborted) break;
        failures += 1;
        if (failures === 1 || failures % 5 === 0) console.info("Live updates interrupted:", error.message);
      }
      if (finished || controller.signal.aborted) break;
      onState("reconnecting");
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failures, 5));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    onState("closed");
  };
  run();
  return {
    close() {
      finished = true;
      controller.abort();
    },
    get lastEventId() {
      return lastId;
    },
  };
}

/** Parse an event stream (text/event-stream) and dispatch each complete event. */
async function readStream(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length) {
          const text = data.join("\n");
          let parsed = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          dispatch(type, parsed, id);
        }
        type = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // comment / keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let fieldValue = colon < 0 ? "" : line.slice(colon + 1);
      if (fieldValue.startsWith(" ")) fieldValue = fieldValue.slice(1);
      if (field === "event") type = fieldValue;
      else if (field === "data") data.push(fieldValue);
      else if (field === "id") id = fieldValue;
    }
  }
}

// A parser for text/event-stream (the HTML standard's "event stream
// interpretation"), fed with decoded text chunks as they arrive. The
// console reads the stream with fetch() because EventSource cannot send the
// Authorization header.

export class SseParser {
  /** `onMessage({id, event, data})` is called once per dispatched message. */
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.buffer = '';
    this.skipLf = false;
    this.data = [];
    this.event = '';
    this.lastId = '';
    this.retry = null;
  }

  /** Feeds a chunk of text; complete lines are processed, the rest kept. */
  push(chunk) {
    if (chunk === '') return;
    // A CR that ended the previous chunk may be the first half of a CRLF.
    if (this.skipLf && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.skipLf = false;
    this.buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      if (m[0] === '\r' && this.buffer === '') this.skipLf = true;
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') this.data.push(value);
    else if (name === 'event') this.event = value;
    else if (name === 'id' && !value.includes('\0')) this.lastId = value;
    else if (name === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }

  dispatch() {
    if (this.data.length > 0) {
      this.onMessage({ id: this.lastId, event: this.event || 'message', data: this.data.join('\n') });
    }
    this.data = [];
    this.event = '';
  }
}

/**
 * Reads the event stream at `url` until `signal` aborts, calling `onMessage`
 * for each message. Reconnects after a dropped connection, sending
 * `Last-Event-ID`, with a growing delay. `onState(text)` reports the state
 * ("live", "reconnecting…"). Throws `{status: 401}` as an ApiError-like
 * object when the token is refused.
 */
export async function follow(url, headers, signal, onMessage, onState) {
  let lastId = '';
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const h = { ...headers, Accept: 'text/event-stream' };
      if (lastId) h['Last-Event-ID'] = lastId;
      const res = await fetch(url, { headers: h, signal, cache: 'no-store', credentials: 'omit' });
      if (res.status === 401) {
        const e = new Error('The token was refused.');
        e.status = 401;
        throw e;
      }
      if (!res.ok || !res.body) throw new Error(`The event stream answered ${res.status}.`);
      onState('live');
      delay = 1000;
      const parser = new SseParser((m) => {
        if (m.id) lastId = m.id;
        onMessage(m);
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
      if (parser.retry !== null) delay = parser.retry;
    } catch (e) {
      if (signal.aborted) return;
      if (e && e.status === 401) throw e;
    }
    if (signal.aborted) return;
    onState('reconnecting…');
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

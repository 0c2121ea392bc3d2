import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AccessLog, formatAccessLine, type AccessRecord } from '../../src/http/access-log.js';

const TMP = mkdtempSync(path.join(os.tmpdir(), 'spawning-access-log-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const record: AccessRecord = {
  remoteAddr: '127.0.0.1',
  method: 'GET',
  url: '/p?q',
  httpVersion: '1.1',
  status: 200,
  bytes: 13,
  referer: undefined,
  userAgent: 'curl/8.0',
  seconds: 0.000412,
};

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('access log', () => {
  it('formats Apache combined plus the duration in seconds', () => {
    assert.equal(
      formatAccessLine(record, '[23/Nov/2026:07:40:00 +0000]'),
      '127.0.0.1 - - [23/Nov/2026:07:40:00 +0000] "GET /p?q HTTP/1.1" 200 13 "-" "curl/8.0" 0.000412\n',
    );
  });

  it('writes "-" for an empty body and an unknown peer, and escapes quotes in headers', () => {
    const line = formatAccessLine({ ...record, remoteAddr: '', bytes: 0, referer: 'http://a/"b"', userAgent: '' }, '[t]');
    assert.equal(line, '- - - [t] "GET /p?q HTTP/1.1" 200 - "http://a/\\"b\\"" "-" 0.000412\n');
  });

  it('appends the lines of one turn to the file together, and closes with them on disk', async () => {
    const file = path.join(TMP, 'a.log');
    const log = new AccessLog(file);
    assert.equal(log.enabled, true);
    log.write(record);
    log.write({ ...record, url: '/second' });
    await log.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/p\?q HTTP\/1\.1" 200 13 "-" "curl\/8\.0" 0\.000412$/);
    assert.match(lines[1]!, /"GET \/second HTTP\/1\.1"/);
  });

  it('"/dev/null" turns logging off entirely', async () => {
    const log = new AccessLog('/dev/null');
    assert.equal(log.enabled, false);
    log.write(record);
    await log.close();
  });

  it('reopen() starts a new file after the old one was moved away (logrotate)', async () => {
    const file = path.join(TMP, 'rotate.log');
    const log = new AccessLog(file);
    log.write({ ...record, url: '/before' });
    await nextTurn();
    await new Promise((r) => setTimeout(r, 50));
    renameSync(file, `${file}.1`);
    log.reopen();
    log.write({ ...record, url: '/after' });
    await log.close();
    assert.match(readFileSync(`${file}.1`, 'utf8'), /\/before/);
    const fresh = readFileSync(file, 'utf8');
    assert.match(fresh, /\/after/);
    assert.doesNotMatch(fresh, /\/before/);
  });
});

/**
 * Requests the front refuses before any handler sees them (malformed,
 * headers too large, too slow): the status, one line on stderr, and a short
 * answer that closes the connection. Both fronts answer them alike.
 */

/** Status line for a request the parser (or the front) refused; null when there is no one to answer. */
export function clientErrorStatus(code: string | undefined): string | null {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return '431 Request Header Fields Too Large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return '408 Request Timeout';
    default:
      return '400 Bad Request';
  }
}

/** The one stderr line for a refused request. */
export function logClientError(status: string, peer: string | undefined, code: string | undefined, message: string): void {
  process.stderr.write(`spawning: child ${process.pid}: ${status.slice(0, 3)} for ${peer ?? 'unix socket'}: ${code ?? 'HTTP_PARSE'} ${message}\n`);
}

/** The body of the answer to a refused request: its reason phrase. */
export const clientErrorBody = (status: string): string => `${status.slice(4)}\n`;

/** The whole answer, for a connection no response object speaks for (the parser lost the request's framing). */
export function clientErrorReply(status: string): string {
  const body = clientErrorBody(status);
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}

/** An HTTP answer that has no domain error (410 Gone, 500 for missing data); the API passes it on. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpStatusError';
  }
}

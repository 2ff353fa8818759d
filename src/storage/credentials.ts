/** s3rver's fixed credentials: it checks signatures against these. Local stack and tests only. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

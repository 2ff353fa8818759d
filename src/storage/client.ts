import { S3Client } from '@aws-sdk/client-s3';

export interface S3Settings {
  endpoint?: string;
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * An S3 client with the settings local and S3-compatible servers need (DESIGN 6): path-style
 * addressing (no bucket subdomains on 127.0.0.1), and checksums only when an operation requires one;
 * otherwise the SDK sends streamed bodies with aws-chunked framing that s3rver stores verbatim.
 */
export function createS3Client(s: S3Settings): S3Client {
  return new S3Client({
    endpoint: s.endpoint,
    region: s.region ?? 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
  });
}

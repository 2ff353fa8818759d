// Runs s3rver in its own process (started with `node --openssl-legacy-provider`, which its paginated
// listings need: DESIGN 6). argv: <directory> <port> <bucket...>. Prints one JSON line
// {"port": N} once it listens, so the parent can use port 0 and learn the real one.
//
// s3rver checks no signatures: anyone who can connect reads and writes every object. It is a
// development server and listens on loopback only, whatever the environment says; production uses
// a real S3 (or R2), whose presigned URLs are scoped to one key and one method.
import S3rver from 's3rver';

const [directory, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  directory,
  address: '127.0.0.1',
  port: Number(port ?? 0),
  silent: true,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
const addr = await server.run();
process.stdout.write(JSON.stringify({ port: addr.port }) + '\n');
const stop = () => server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// A parent that dies without killing us closes our stdin: exit rather than linger as an orphan.
process.stdin.on('end', stop);
process.stdin.resume();

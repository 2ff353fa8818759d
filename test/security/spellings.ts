/**
 * Ways to write an internal address in a URL's host. The WHATWG URL parser normalises the IPv4
 * forms (decimal, octal, hex, short, fullwidth digits, trailing dot) and IPv6 ones; every one of
 * them must still be refused.
 */
export const LOOPBACK_HOSTS = [
  '127.0.0.1', '2130706433', '0x7f000001', '017700000001', '0177.0.0.1', '0x7f.0.0.1', '0x7f.1', '127.1', '127.0.1',
  '127.000.000.001', '127.0.0.1.', '１２７.０.０.１', '127.255.255.254', '0', '0.0.0.0', '0x0',
  '[::1]', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:127.0.0.1]', '[::ffff:0:127.0.0.1]',
  '[::ffff:0:7f00:1]', '[::127.0.0.1]', '[::7f00:1]', '[64:ff9b::127.0.0.1]', '[64:ff9b:1::7f00:1]', '[2002:7f00:1::]',
  '[2001:0:4136:e378:8000:63bf:80ff:fffe]', '[::]',
  'localhost', 'LOCALHOST', 'localhost.', 'api.localhost',
];

export const PRIVATE_HOSTS = [
  '10.0.0.1', '012.0.0.1', '169.254.169.254', '0xa9fea9fe', '2852039166', '100.64.0.1', '172.16.0.1', '172.31.255.255',
  '192.168.1.1', '192.0.0.1', '192.0.2.1', '198.18.0.1', '198.51.100.1', '203.0.113.1', '224.0.0.1', '240.0.0.1', '255.255.255.255',
  '[::ffff:169.254.169.254]', '[::ffff:a9fe:a9fe]', '[fd00:ec2::254]', '[fe80::1]', '[fec0::1]', '[fc00::1]', '[ff02::1]',
  '[100::1]', '[2001:db8::1]', '[2002:a9fe:a9fe::1]',
];

export const INTERNAL_HOSTS = [...LOOPBACK_HOSTS, ...PRIVATE_HOSTS];

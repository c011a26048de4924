// *.localhost resolves to loopback, as in every current browser (RFC 6761 §6.3); the OS resolver here does not.
const dns = require("node:dns");
const original = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  const name = String(hostname).toLowerCase().replace(/\.$/, "");
  if (name.endsWith(".localhost")) hostname = "127.0.0.1";
  return original.call(this, hostname, options, callback);
};

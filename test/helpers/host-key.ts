import ssh2 from 'ssh2';

/**
 * A parsed ed25519 public key that is nobody's host key. ssh2's generateKeyPairSync('ed25519')
 * now and then (about 1 in 250) writes a 31-byte key its own parseKey refuses ("Malformed
 * OpenSSH public key"): generate again until it parses.
 */
export function foreignHostKey(): ssh2.ParsedKey {
  for (;;) {
    const key = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ed25519').public);
    if (!(key instanceof Error)) return Array.isArray(key) ? key[0]! : key;
  }
}

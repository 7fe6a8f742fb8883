/**
 * ed25519 key pairs that ssh2 can read back. ssh2's own keygen strips every leading zero byte of
 * the public key, so about one key in 256 comes out 31 bytes long and `parseKey` rejects it
 * (mscdex/ssh2#1390, open). A fresh pair is generated until one parses; two bad ones in a row
 * happen once in 65,536 tries, so a few attempts are plenty.
 */
import type Ssh2 from "ssh2";

const ATTEMPTS = 8;

export function generateEd25519KeyPair(utils: typeof Ssh2.utils, comment?: string): { private: string; public: string } {
  for (let attempt = 1; ; attempt++) {
    const pair = utils.generateKeyPairSync("ed25519", comment === undefined ? {} : { comment });
    const readable = !(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error);
    if (readable || attempt === ATTEMPTS) return pair;
  }
}

// TLS check of a server: two connections, the second offering the session of
// the first (what wrk does on a reconnect). Reports the negotiated protocol,
// cipher, key exchange group, certificate fingerprint, and whether the second
// handshake was a resumption. The kit did this with `openssl s_client
// -sess_out/-sess_in`; Node's client gives the same answer without timing
// guesses (TLS 1.3 tickets arrive after the handshake: we wait for the HTTP
// answer, by which time any ticket has been sent).

import { connect } from 'node:tls';

function once(port, session) {
  return new Promise((resolve, reject) => {
    let ticket;
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, session });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('TLS probe timed out'));
    }, 5000);
    socket.on('session', (s) => (ticket = s));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('secureConnect', () => {
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', () => {});
    socket.on('end', () => {
      clearTimeout(timer);
      const cipher = socket.getCipher();
      const ek = socket.getEphemeralKeyInfo();
      const cert = socket.getPeerCertificate();
      resolve({
        protocol: socket.getProtocol(),
        cipher: cipher?.standardName ?? cipher?.name,
        group: ek && ek.name ? ek.name : ek?.type,
        certSha256: cert?.fingerprint256,
        certKey: cert?.asn1Curve ? `EC ${cert.asn1Curve}` : cert?.bits ? `RSA ${cert.bits}` : '?',
        reused: socket.isSessionReused(),
        ticket,
      });
      socket.destroy();
    });
  });
}

export async function probeTls(port) {
  const first = await once(port, undefined);
  const second = await once(port, first.ticket);
  return {
    protocol: first.protocol,
    cipher: first.cipher,
    group: first.group,
    certKey: first.certKey,
    certSha256: first.certSha256,
    sessionOffered: first.ticket !== undefined,
    resumed: second.reused,
  };
}

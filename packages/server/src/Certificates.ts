/**
 * Throw-away X.509 certificates for tests, without openssl: a CA, a server
 * certificate for `localhost`, `127.0.0.1` and `::1` signed by it, client
 * certificates signed by it, and server certificates with a fault (expired,
 * not yet valid, for another host, from an unknown CA, self-signed) to test
 * that a client rejects what it must. Everything is PEM, in memory, or
 * written to files for clients that want paths.
 *
 * Keys are RSA 2048 from Node's crypto; certificates are built and signed
 * with node-forge. Validity is counted from real time (a TLS client checks
 * it against its own clock), not the test's Clock.
 *
 * @since 0.1.0
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Fault } from "@mqttest/behavior"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import forge from "node-forge"

/**
 * A certificate and its private key, PEM.
 * @since 0.1.0
 */
export interface KeyPair {
  readonly cert: string
  readonly key: string
}

/**
 * What is wrong with a faulty server certificate (the `certificateFault`
 * behaviour's values):
 * - `expired`: its validity ended yesterday;
 * - `notYetValid`: its validity starts tomorrow;
 * - `wrongHost`: it names `wrong.host.invalid` only;
 * - `unknownCa`: signed by another CA than the one the client trusts;
 * - `selfSigned`: signed by its own key.
 * @since 0.1.0
 */
export type CertificateFault = Fault.CertificateFault

/**
 * The faults `faulty` can make.
 * @since 0.1.0
 */
export const certificateFaults: ReadonlyArray<CertificateFault> = Fault.CertificateFault.literals

/**
 * A test's certificates.
 * @since 0.1.0
 */
export interface TestCertificates {
  /** The CA: hand `ca.cert` to the client under test as the one it trusts. */
  readonly ca: KeyPair
  /** The server's certificate for the hosts asked for, signed by the CA. */
  readonly server: KeyPair
  /** A client certificate with this common name, signed by the CA. */
  readonly client: (commonName: string) => KeyPair
  /** A server certificate with a fault (made on first use). */
  readonly faulty: (fault: CertificateFault) => KeyPair
}

const DAY = 86_400_000

interface Keys {
  readonly privateKey: forge.pki.rsa.PrivateKey
  readonly publicKey: forge.pki.rsa.PublicKey
}

const generateKeys = (): Keys => {
  const { privateKey, publicKey } = Crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: "pkcs1", format: "pem" }).toString()),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString())
  }
}

const isIp = (host: string) => /^[\d.]+$/.test(host) || host.includes(":")

interface Signed {
  readonly subject: string
  readonly issuer: string
  readonly keys: Keys
  readonly signer: forge.pki.rsa.PrivateKey
  readonly notBefore: number
  readonly notAfter: number
  readonly ca?: boolean
  readonly hosts?: ReadonlyArray<string>
}

const certificate = (options: Signed): KeyPair => {
  const cert = forge.pki.createCertificate()
  cert.publicKey = options.keys.publicKey
  // A positive serial number (its first hex digit below 8).
  cert.serialNumber = `1${Crypto.randomBytes(8).toString("hex")}`
  cert.validity.notBefore = new Date(options.notBefore)
  cert.validity.notAfter = new Date(options.notAfter)
  cert.setSubject([{ name: "commonName", value: options.subject }])
  cert.setIssuer([{ name: "commonName", value: options.issuer }])
  cert.setExtensions(
    options.ca === true
      ? [
          { name: "basicConstraints", cA: true, critical: true },
          { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true }
        ]
      : [
          { name: "basicConstraints", cA: false, critical: true },
          { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
          { name: "extKeyUsage", serverAuth: true, clientAuth: true },
          ...((options.hosts ?? []).length > 0
            ? [
                {
                  name: "subjectAltName",
                  altNames: (options.hosts ?? []).map((host) =>
                    isIp(host) ? { type: 7, ip: host } : { type: 2, value: host }
                  )
                }
              ]
            : [])
        ]
  )
  cert.sign(options.signer, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(options.keys.privateKey) }
}

/**
 * A CA and a server certificate for `hosts` (default `localhost`,
 * `127.0.0.1`, `::1`), valid from an hour ago for a day of real time.
 * @since 0.1.0
 */
export const make = (options?: {
  readonly hosts?: ReadonlyArray<string> | undefined
}): Effect.Effect<TestCertificates> =>
  Effect.sync(() => {
    const now = Clock.Clock.defaultValue().currentTimeMillisUnsafe()
    const valid = { notBefore: now - 3_600_000, notAfter: now + DAY }
    const hosts = options?.hosts ?? ["localhost", "127.0.0.1", "::1"]
    const caKeys = generateKeys()
    const caName = "mqttest test CA"
    const ca = certificate({
      subject: caName,
      issuer: caName,
      keys: caKeys,
      signer: caKeys.privateKey,
      ca: true,
      ...valid
    })
    const serverKeys = generateKeys()
    const signedBy = (subject: string, keys: Keys, hostsOf: ReadonlyArray<string>, validity = valid) =>
      certificate({ subject, issuer: caName, keys, signer: caKeys.privateKey, hosts: hostsOf, ...validity })
    const server = signedBy(hosts[0] ?? "localhost", serverKeys, hosts)
    const faults = new Map<CertificateFault, KeyPair>()
    const makeFaulty = (fault: CertificateFault): KeyPair => {
      switch (fault) {
        case "expired":
          return signedBy(hosts[0] ?? "localhost", serverKeys, hosts, { notBefore: now - 2 * DAY, notAfter: now - DAY })
        case "notYetValid":
          return signedBy(hosts[0] ?? "localhost", serverKeys, hosts, { notBefore: now + DAY, notAfter: now + 2 * DAY })
        case "wrongHost":
          return signedBy("wrong.host.invalid", serverKeys, ["wrong.host.invalid"])
        case "unknownCa": {
          const otherKeys = generateKeys()
          const other = "another test CA"
          return certificate({
            subject: hosts[0] ?? "localhost",
            issuer: other,
            keys: serverKeys,
            signer: otherKeys.privateKey,
            hosts,
            ...valid
          })
        }
        case "selfSigned":
          return certificate({
            subject: hosts[0] ?? "localhost",
            issuer: hosts[0] ?? "localhost",
            keys: serverKeys,
            signer: serverKeys.privateKey,
            hosts,
            ...valid
          })
      }
    }
    return {
      ca,
      server,
      client: (commonName) => signedBy(commonName, generateKeys(), []),
      faulty: (fault) => {
        let made = faults.get(fault)
        if (made === undefined) {
          made = makeFaulty(fault)
          faults.set(fault, made)
        }
        return made
      }
    }
  })

/**
 * Writes a key pair to `dir` as `<name>.crt` and `<name>.key` (the key
 * readable by its owner only); returns both paths.
 * @since 0.1.0
 */
export const writeFiles = (
  pair: KeyPair,
  dir: string,
  name: string
): Effect.Effect<{ readonly cert: string; readonly key: string }, Error> =>
  Effect.try({
    try: () => {
      const cert = Path.join(dir, `${name}.crt`)
      const key = Path.join(dir, `${name}.key`)
      Fs.writeFileSync(cert, pair.cert)
      Fs.writeFileSync(key, pair.key, { mode: 0o600 })
      return { cert, key }
    },
    catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
  })

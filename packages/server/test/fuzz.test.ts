/**
 * Fuzzing over real sockets: 10,000 bad inputs against one server while a
 * well-behaved client stays connected. The seed is logged (and can be set
 * with MQTTEST_FUZZ_SEED) so any failure reproduces.
 */

import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Delay } from "@mqttest/behavior"
import { Encoder, type Packet } from "@mqttest/codec"
import { MqttServer } from "@mqttest/server"
import { Effect, Queue, Result } from "effect"
import { call, connectClient, messages, text } from "./helpers.js"

const CASES = Number(process.env.MQTTEST_FUZZ_CASES ?? 10_000)

/** The server's own seeded generator, so a printed seed replays the same cases. */
const generator = (seed: number) => {
  const random = Delay.seededRandom(seed)
  const next = () => random.nextDoubleUnsafe()
  return { next, int: (n: number) => Math.floor(next() * n) }
}

const encode = (packet: Packet.Packet, level: Packet.ProtocolLevel) => Result.getOrThrow(Encoder.encode(packet, level))
const connect4 = encode({ _tag: "Connect", protocolLevel: 4, clean: true, keepAlive: 0, clientId: "fz" }, 4)
const connect5 = encode({ _tag: "Connect", protocolLevel: 5, clean: true, keepAlive: 0, clientId: "fz5" }, 5)
const samples: ReadonlyArray<readonly [Packet.ProtocolLevel, Uint8Array]> = [
  [4, encode({ _tag: "Publish", topic: "a/b", payload: text("x"), qos: 1, packetId: 1, retain: false, dup: false }, 4)],
  [4, encode({ _tag: "Subscribe", packetId: 2, subscriptions: [{ topicFilter: "a/#", qos: 2 }] }, 4)],
  [4, encode({ _tag: "Unsubscribe", packetId: 3, topicFilters: ["a/#"] }, 4)],
  [4, encode({ _tag: "Pubrel", packetId: 4 }, 4)],
  [
    5,
    encode(
      {
        _tag: "Publish",
        topic: "t",
        payload: text("y"),
        qos: 2,
        packetId: 5,
        retain: true,
        dup: false,
        properties: { contentType: "c", userProperties: [["a", "b"]], messageExpiryInterval: 9 }
      },
      5
    )
  ],
  [
    5,
    encode(
      {
        _tag: "Subscribe",
        packetId: 6,
        subscriptions: [{ topicFilter: "$share/g/t", qos: 1, retainHandling: 2 }],
        properties: { subscriptionIdentifier: 3 }
      },
      5
    )
  ],
  [5, encode({ _tag: "Disconnect", reasonCode: 0x04, properties: { sessionExpiryInterval: 5 } }, 5)],
  [4, encode({ _tag: "Connack", sessionPresent: false, reasonCode: 0 }, 4)],
  [4, encode({ _tag: "Pingreq" }, 4)]
]

const concat = (...parts: ReadonlyArray<Uint8Array>) => Buffer.concat(parts.map((p) => Buffer.from(p)))

/** One bad input: bytes sent on a fresh connection. */
const makeCase = (random: ReturnType<typeof generator>): Uint8Array => {
  const [level, sample] = samples[random.int(samples.length)]!
  const prefix = level === 5 ? connect5 : connect4
  switch (random.int(6)) {
    case 0: // random bytes, with or without a CONNECT first
      return concat(random.int(2) === 0 ? prefix : new Uint8Array(), Crypto.randomBytes(1 + random.int(64)))
    case 1: {
      // a valid packet with one byte replaced
      const mutated = Buffer.from(sample)
      mutated[random.int(mutated.length)] = random.int(256)
      return concat(prefix, mutated)
    }
    case 2: // a packet cut short
      return concat(prefix, sample.subarray(0, random.int(sample.length)))
    case 3: // a Remaining Length announcing far more than the limit
      return concat(prefix, new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, 0x61]))
    case 4: // any packet type in the wrong state (before CONNECT, or server-only)
      return random.int(2) === 0 ? sample : concat(prefix, prefix)
    default: {
      // MQTT 5 properties with a wrong or repeated identifier
      const props = Buffer.from(samples[4]![1])
      props[9] = random.int(2) === 0 ? 0x03 : random.int(64)
      return concat(connect5, props)
    }
  }
}

/** Sends bytes on a new connection, half-closes it, and waits until the server has closed it. */
const attack = (port: number, bytes: Uint8Array) =>
  Effect.callback<void>((resume) => {
    const socket = Net.createConnection({ host: "127.0.0.1", port })
    socket.on("error", () => {})
    // Read (and drop) what the server sends, so its FIN is seen and the socket closes.
    socket.on("data", () => {})
    socket.on("connect", () => socket.end(bytes))
    socket.on("close", () => resume(Effect.void))
    return Effect.sync(() => void socket.destroy())
  })

describe("fuzzing over real sockets", () => {
  it.live(
    `${CASES} bad inputs: the server keeps serving, closes each bad connection, and stays bounded`,
    () =>
      Effect.gen(function* () {
        const seed = Number(process.env.MQTTEST_FUZZ_SEED ?? Crypto.randomInt(2 ** 31))
        console.log(`fuzz seed ${seed} (set MQTTEST_FUZZ_SEED=${seed} to reproduce)`)
        const random = generator(seed)
        const server = yield* MqttServer.make({ ports: 0, maxPacketSize: 1 << 16, eventBufferSize: 100 })
        const good = yield* connectClient(server, { clientId: "good" })
        yield* call((cb) => good.subscribe("good/#", { qos: 1 }, cb))
        const inbox = yield* messages(good)
        const heapBefore = process.memoryUsage().heapUsed

        yield* Effect.forEach(
          Array.from({ length: CASES }, () => makeCase(random)),
          (bytes) => attack(server.port, bytes),
          { concurrency: 32, discard: true }
        )

        // The well-behaved client still works, and new clients are still accepted.
        yield* call((cb) => good.publish("good/still", "alive", { qos: 1 }, cb))
        assert.strictEqual((yield* Queue.take(inbox)).payload, "alive")
        const late = yield* connectClient(server, { clientId: "late" })
        assert.isTrue(late.connected)
        const stats = yield* server.stats
        assert.strictEqual(stats.connections, CASES + 2)
        assert.strictEqual(stats.openConnections, 2)
        assert.isTrue(stats.perConnection.slice(1, -1).every((c) => !c.open))
        // No buffer grew from inputs announcing huge packets.
        assert.isBelow(process.memoryUsage().heapUsed - heapBefore, 200 * 1024 * 1024)
      }).pipe(Effect.scoped),
    60_000
  )
})

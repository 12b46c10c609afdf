/**
 * pcapng export, checked with tshark (Debian's `tshark`, installed by
 * .ci/run): it decodes every packet of the dump as MQTT, in the same order,
 * with the same types, topics, packet ids and payloads, MQTT 5 properties
 * intact, and faults as packet comments.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Packet } from "@mqttest/codec"
import { Dump, MqttServer, Pcap, ServerEvent } from "@mqttest/server"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { call, connectClient } from "./helpers.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-pcap-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

interface Decoded {
  readonly type: number
  readonly topic: string | undefined
  readonly packetId: string | undefined
  readonly payload: string | undefined
  readonly comment: string | undefined
  readonly contentType: string | undefined
}

/** What tshark makes of a capture: the MQTT packets in order (`tshark -r … -Y mqtt -T json`). */
const tshark = (file: string): ReadonlyArray<Decoded> => {
  const out = ChildProcess.spawnSync("tshark", ["-r", file, "-Y", "mqtt", "-T", "json"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024
  })
  if (out.error !== undefined) throw new Error(`tshark is missing (apt-get install tshark): ${out.error.message}`)
  const frames = JSON.parse(out.stdout) as Array<{ _source: { layers: Record<string, any> } }>
  return frames.map(({ _source: { layers } }) => {
    const mqtt = layers.mqtt
    const comment = layers.pkt_comment?.["frame.comment"]
    return {
      type: Number(mqtt["mqtt.hdrflags_tree"]["mqtt.msgtype"]),
      topic: mqtt["mqtt.topic"],
      packetId: mqtt["mqtt.msgid"],
      payload: mqtt["mqtt.msg"],
      comment: typeof comment === "string" ? comment : undefined,
      contentType: JSON.stringify(mqtt).match(/"mqtt\.property\.content_type":"([^"]*)"/)?.[1]
    }
  })
}

describe("pcap export", () => {
  it.live("tshark decodes every packet of the dump as MQTT, in order, with its fields, and faults as comments", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          const server = yield* MqttServer.make({ ports: 0, dumps: [`${dir}/run.jsonl`], ackDelay: 10 })
          const v5 = yield* connectClient(server, { clientId: "v5", protocolVersion: 5 })
          yield* call((cb) => v5.subscribe("a/#", { qos: 2 }, cb))
          const v4 = yield* connectClient(server, { clientId: "v4" })
          yield* call((cb) => v4.publish("a/b", "hello", { qos: 1 }, cb))
          yield* call((cb) =>
            v5.publish("a/c", Buffer.from([0, 1, 2, 255]), { qos: 2, properties: { contentType: "app/bin" } }, cb)
          )
          yield* server.stop
        })
      )
      yield* Pcap.fromDump(`${dir}/run.jsonl`, `${dir}/run.pcapng`)
      const entries = yield* Stream.runCollect(Dump.read(`${dir}/run.jsonl`))
      const packets = entries.filter((e) => e._tag === "Packet")
      const decoded = tshark(`${dir}/run.pcapng`)
      assert.strictEqual(decoded.length, packets.length)
      for (const [i, entry] of packets.entries()) {
        if (entry._tag !== "Packet") continue
        const got = decoded[i]!
        const packet = entry.packet
        assert.strictEqual(got.type, Packet.typeNumber[packet._tag], `packet ${i} (${packet._tag})`)
        if (packet._tag === "Publish") {
          assert.strictEqual(got.topic, packet.topic)
          assert.strictEqual(
            got.payload,
            Buffer.from(packet.payload)
              .toString("hex")
              .replace(/(..)(?!$)/g, "$1:")
          )
          if (packet.packetId !== undefined) assert.strictEqual(got.packetId, String(packet.packetId))
        }
        if ("packetId" in packet && packet.packetId !== undefined && packet._tag !== "Publish") {
          assert.strictEqual(got.packetId, String(packet.packetId), `packet ${i} (${packet._tag}) id`)
        }
      }
      // MQTT 5 properties are intact.
      assert.isTrue(decoded.some((d) => d.type === 3 && d.contentType === "app/bin"))
      // The ack delays are comments on packets.
      assert.isTrue(decoded.some((d) => d.comment?.startsWith("fault ackDelay:") === true))
    })
  )

  it.live("in memory and at MQTT 3.1: the client gets 10.0.x.y, tshark still decodes every packet", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          const server = yield* MqttServer.make({ transport: "memory", dumps: [`${dir}/mem.jsonl`] })
          const client = yield* connectClient(server, { clientId: "old", protocolVersion: 3, protocolId: "MQIsdp" })
          yield* call((cb) => client.publish("t/old", "x", { qos: 1 }, cb))
          yield* server.stop
        })
      )
      yield* Pcap.fromDump(`${dir}/mem.jsonl`, `${dir}/mem.pcapng`)
      const out = ChildProcess.spawnSync(
        "tshark",
        [
          "-r",
          `${dir}/mem.pcapng`,
          "-Y",
          "mqtt",
          "-T",
          "fields",
          "-e",
          "ip.src",
          "-e",
          "mqtt.msgtype",
          "-e",
          "mqtt.ver"
        ],
        { encoding: "utf8" }
      )
      const rows = out.stdout.split("\n").filter((row) => row !== "")
      assert.deepStrictEqual(rows.slice(0, 3), ["10.0.0.0\t1\t3", "127.0.0.1\t2\t", "10.0.0.0\t3\t"])
    })
  )

  it.live(
    "pcap: the capture is written as the run goes (readable while the server runs), and complete at the stop",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = `${dir}/live.pcapng`
        yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* MqttServer.make({ ports: 0, pcap: file })
            const client = yield* connectClient(server, { clientId: "live" })
            yield* call((cb) => client.publish("t/live", "x", { qos: 1 }, cb))
            // The PUBACK left after the PUBLISH was in the capture.
            const during = tshark(file).map((d) => d.type)
            assert.deepStrictEqual(during.slice(0, 3), [1, 2, 3])
            yield* call((cb) => client.end(false, {}, cb))
            yield* server.waitFor(ServerEvent.is("ConnectionClosed"))
            yield* server.stop
          })
        )
        assert.deepStrictEqual(
          tshark(file).map((d) => d.type),
          [1, 2, 3, 4, 14]
        )
      })
  )
})

/**
 * MQTT.js 5.5.5 → 5.6.0: a client that only receives never sends PINGREQ.
 *
 * Symptom: a subscribe-only client (keep alive 2 s) that receives a QoS 0 message every 0.5 s
 * counts the incoming traffic as keep-alive and never pings; the server hears nothing from it for
 * 1.5 × the keep alive and closes the connection — every ≈3 s, while messages flow.
 * https://github.com/mqttjs/MQTT.js/issues/1861 and #1863, fixed by
 * https://github.com/mqttjs/MQTT.js/pull/1866 (5.5.4, before the change, is a second control).
 *
 * Recipe: nothing to configure — the server enforces 1.5 × keep alive [MQTT-3.1.2-24] — and a
 * QoS 0 `server.publish` every 0.5 s.
 */
import { type Handle, ServerEvent, start } from "@mqttest/server"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { assert, describe, test } from "vitest"
import { connected, ended, release } from "../helpers.js"

/** The server publishes to the client every 0.5 s while `body` runs. */
const whilePublishing = async <A>(server: Handle, body: () => Promise<A>): Promise<A> => {
  const publisher = Effect.runFork(
    Effect.repeat(
      Effect.promise(() => server.publish("news", "tick", { qos: 0 })),
      Schedule.spaced("500 millis")
    )
  )
  try {
    return await body()
  } finally {
    await Effect.runPromise(Fiber.interrupt(publisher))
  }
}

const run = async (alias: string, check: (server: Handle, connection: number) => Promise<void>) => {
  await using server = await start({ ports: 0 })
  const client = await connected(await release(alias), server, { clientId: "listener", keepalive: 2 })
  try {
    await new Promise<void>((resolve) => client.subscribe("news", { qos: 0 }, () => resolve()))
    const { connection } = await server.waitFor(
      ServerEvent.isPacket("PacketReceived", "Connect", { clientId: "listener" })
    )
    await whilePublishing(server, () => check(server, connection))
  } finally {
    await ended(client)
  }
}

const isClosed = (connection: number) => ServerEvent.is("ConnectionClosed", (e) => e.connection === connection)
const isPing = (connection: number) => ServerEvent.isPacket("PacketReceived", "Pingreq", { connection })

/** The connection's events from the server's event buffer, once it has stopped. */
const eventsOf = async (server: Handle, connection: number) => {
  await server.stop()
  const { events } = await server.finished
  return events.filter((e) => "connection" in e && e.connection === connection)
}

describe("MQTT.js 5.5.5 → 5.6.0: a client that only receives never sends PINGREQ", () => {
  test(
    "5.5.5 (buggy): closed for keep alive timeout while messages flow, never having pinged",
    () =>
      run("mqtt-5-5-5", async (server, connection) => {
        const closed = await server.waitFor(isClosed(connection), { timeout: 10_000 })
        assert.strictEqual(closed.reason, "KeepAliveTimeout")
        const events = await eventsOf(server, connection)
        assert.isAbove(events.filter(ServerEvent.isPacket("PacketSent", "Publish")).length, 3)
        assert.deepStrictEqual(events.filter(isPing(connection)), [])
      }),
    20_000
  )

  for (const [alias, label] of [
    ["mqtt-5-6-0", "5.6.0 (fixed)"],
    ["mqtt-5-5-4", "5.5.4 (before the regression)"]
  ] as const) {
    test(
      `${label}: a PINGREQ every keep alive, still connected after the second`,
      () =>
        run(alias, async (server, connection) => {
          await server.waitFor(isPing(connection), { timeout: 10_000 })
          await server.waitFor(isPing(connection), { timeout: 10_000, after: await server.mark() })
          // Over 3 s (1.5 × keep alive) since the CONNECT, and only the stop closed the connection.
          const events = await eventsOf(server, connection)
          assert.deepStrictEqual(
            events.filter(ServerEvent.is("ConnectionClosed")).map((e) => e.reason),
            ["ServerStopped"]
          )
        }),
      20_000
    )
  }
})

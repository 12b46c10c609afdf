import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { Certificates, type Handle, ServerEvent, start } from "@mqttest/server"
import { Effect } from "effect"
import mqtt from "mqtt"
import { assert, describe, test } from "vitest"

const refused = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.createConnection({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", () => resolve(true))
  })

describe("Promise API", () => {
  test("start with TLS, WebSocket and a Unix socket: the handle lists every listener's URL, MQTT.js connects on each", async () => {
    const certs = Effect.runSync(Certificates.make())
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mqttest-promise-"))
    try {
      await using server = await start({
        ports: 0,
        tls: { cert: certs.server.cert, key: certs.server.key, ports: 0 },
        ws: { ports: 0 },
        wss: { ports: 0 },
        unix: Path.join(dir, "mqtt.sock")
      })
      assert.strictEqual(server.urls[0], server.url)
      assert.deepStrictEqual(
        server.urls.map((url) => url.split(":")[0]),
        ["mqtt", "mqtts", "ws", "wss", "mqtt+unix"]
      )
      for (const url of server.urls.slice(1)) {
        const client = await mqtt.connectAsync(url, { ca: certs.ca.cert, reconnectPeriod: 0 })
        await client.endAsync()
      }
      assert.strictEqual((await server.stats()).connections, 4)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("start, commands, events, stop", async () => {
    const server = await start({ ports: 0 })
    assert.strictEqual(server.host, "127.0.0.1")
    const client = await mqtt.connectAsync(server.url, { clientId: "p1", reconnectPeriod: 0 })
    try {
      await client.subscribeAsync("news", { qos: 1 })
      const message = new Promise<string>((resolve) =>
        client.once("message", (_t, payload) => resolve(payload.toString()))
      )
      await server.publish("news", "from the server", { qos: 1 })
      assert.strictEqual(await message, "from the server")
      const suback = await server.waitFor(ServerEvent.isPacket("PacketSent", "Suback", { clientId: "p1" }))
      assert.deepStrictEqual(suback.packet.reasonCodes, [1])
      await server.send(suback.connection, { _tag: "Pingresp" })
      await server.waitFor(ServerEvent.isPacket("PacketSent", "Pingresp"))
      const stats = await server.stats()
      assert.strictEqual(stats.openConnections, 1)
    } finally {
      await client.endAsync(true)
    }
    const final = await server.stop()
    assert.strictEqual(final.connections, 1)
    const finished = await server.finished
    assert.strictEqual(finished.events.at(-1)?._tag, "ServerStopped")
    assert.deepStrictEqual(await server.stop(), final)
    assert.isTrue(await refused(server.host, server.port))
  })

  test("events is an async iterable that ends when the server stops", async () => {
    const server = await start({ ports: 0 })
    const client = await mqtt.connectAsync(server.url, { clientId: "it", reconnectPeriod: 0 })
    await client.endAsync()
    await server.waitFor(ServerEvent.is("ConnectionClosed"))
    const stopping = server.stop()
    const tags: Array<string> = []
    for await (const event of server.events) tags.push(event._tag)
    await stopping
    assert.strictEqual(tags[0], "Listening")
    assert.includeMembers(tags, ["ConnectionOpened", "PacketReceived", "PacketSent", "ConnectionClosed"])
    assert.strictEqual(tags.at(-1), "ServerStopped")
  })

  test("disconnect closes a client's connection", async () => {
    const server = await start({ ports: 0 })
    try {
      const client = await mqtt.connectAsync(server.url, { clientId: "kicked", reconnectPeriod: 0 })
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()))
      const connack = await server.waitFor(ServerEvent.isPacket("PacketSent", "Connack"))
      await server.disconnect(connack.connection)
      await closed
      const event = await server.waitFor(ServerEvent.is("ConnectionClosed"))
      assert.strictEqual(event.reason, "ServerDisconnect")
      await client.endAsync(true)
    } finally {
      await server.stop()
    }
  })

  test("await using stops the server at the end of the block", async () => {
    let handle: Handle | undefined
    {
      await using server = await start({ ports: 0 })
      handle = server
      assert.isFalse(await refused(server.host, server.port))
    }
    assert.isTrue(await refused(handle.host, handle.port))
    assert.strictEqual((await handle.finished).stats.openConnections, 0)
  })

  test("an invalid config rejects with an error naming the option", async () => {
    const error = await start({ ports: "2000-1883" }).then(
      () => undefined,
      (e: unknown) => e as Error
    )
    assert.match(String(error?.message), /ports/)
    assert.match(String(error?.message), /ends before it starts/)
  })

  test("no free port rejects with a ListenError", async () => {
    await using first = await start({ ports: 0 })
    const error = await start({ ports: first.port }).then(
      () => undefined,
      (e: unknown) => e as { _tag: string; message: string }
    )
    assert.strictEqual(error?._tag, "ListenError")
    assert.match(String(error?.message), /EADDRINUSE/)
  })
})

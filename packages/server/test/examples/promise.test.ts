import { ServerEvent, start } from "@mqttest/server"
import mqtt from "mqtt"
import { expect, test } from "vitest"

test("the last will is published when the device drops off", async () => {
  await using server = await start({ ports: 0 })
  const monitor = await mqtt.connectAsync(server.url, { clientId: "monitor" })
  await monitor.subscribeAsync("status/#")
  const device = await mqtt.connectAsync(server.url, {
    clientId: "device-7",
    will: { topic: "status/device-7", payload: Buffer.from("offline"), qos: 1, retain: false }
  })
  const will = new Promise<string>((resolve) => monitor.once("message", (_topic, payload) => resolve(`${payload}`)))
  device.stream.destroy() // the device vanishes without DISCONNECT
  expect(await will).toBe("offline")
  const closed = await server.waitFor(ServerEvent.is("ConnectionClosed", (e) => e.clientId === "device-7"))
  expect(closed.willPublished).toBe(true)
  await monitor.endAsync()
})

import { ServerEvent, start } from "@mqttest/server"
import mqtt from "mqtt"
import { expect, onTestFailed, test } from "vitest"

test("the daily report reaches the server", async () => {
  await using server = await start({ ports: 0 })
  // If this test fails, its traffic is drawn in view/<test name>.html (e.g. for a CI artifact).
  onTestFailed(({ task }) => server.writeView(`view/${task.name.replace(/\W+/g, "-")}.html`))
  const client = await mqtt.connectAsync(server.url, { clientId: "reporter" })
  await client.publishAsync("reports/daily", "ok", { qos: 1 })
  const report = await server.waitFor(ServerEvent.isPacket("PacketReceived", "Publish", { clientId: "reporter" }))
  expect(report.packet.topic).toBe("reports/daily")
  await client.endAsync()
})

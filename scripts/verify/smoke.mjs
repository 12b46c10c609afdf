// The installed libraries on a given Node, without a test runner (scripts/verify-packages.sh runs it
// on the lowest Node of `engines` too): a server from start(), a client, a behaviour, a clean stop.
import { ServerEvent, start } from "@mqttest/server"
import mqtt from "mqtt"

const server = await start({ ports: 0, ackDelay: { fixed: 10 } })
try {
  const client = await mqtt.connectAsync(server.url, { clientId: "smoke" })
  await client.publishAsync("t", "x", { qos: 1 })
  const fault = await server.waitFor(ServerEvent.is("FaultInjected"), { timeout: 5000 })
  if (fault.detail !== "PUBACK delayed by 10 ms") throw new Error(`unexpected: ${fault.detail}`)
  await client.endAsync()
} finally {
  const stats = await server.stop()
  console.log(`smoke on Node ${process.version}: ${stats.packetsIn} packets in, ${stats.packetsOut} out`)
}

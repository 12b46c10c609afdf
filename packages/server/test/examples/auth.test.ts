import { start } from "@mqttest/server"
import mqtt from "mqtt"
import { expect, test } from "vitest"

test("the client answers the server's challenge (MQTT 5 enhanced authentication)", async () => {
  await using server = await start({
    ports: 0,
    // Method "TOKEN": CONNECT carries "hello", the server challenges, the client must answer "secret".
    authentication: {
      TOKEN: {
        steps: [
          { expect: "hello", reply: "continue", data: "challenge" },
          { expect: "secret", reply: "success", data: "welcome" }
        ]
      }
    }
  })
  const client = mqtt.connect(server.url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    properties: { authenticationMethod: "TOKEN", authenticationData: Buffer.from("hello") }
  })
  client.handleAuth = (packet, callback) => {
    expect(`${packet.properties?.authenticationData}`).toBe("challenge")
    const data = Buffer.from("secret")
    callback(undefined, {
      cmd: "auth",
      reasonCode: 0x18,
      properties: { authenticationMethod: "TOKEN", authenticationData: data }
    })
  }
  const connack = await new Promise<mqtt.IConnackPacket>((resolve) => client.once("connect", resolve))
  expect(`${connack.properties?.authenticationData}`).toBe("welcome")
  await client.endAsync()
})

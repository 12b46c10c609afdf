// A subscriber for the entries that may crash the client's process: an MQTT.js release (by its
// alias) connects at MQTT 5 to argv[3], subscribes to argv[4], and prints what happens, one JSON
// line each. Nothing catches the client's own exceptions: a bug that ends the process ends it.
const [alias, url, topic] = process.argv.slice(2)
const mqtt = (await import(alias)).default
const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: "subscriber" })
const say = (what) => process.stdout.write(`${JSON.stringify(what)}\n`)
client.on("connect", () =>
  client.subscribe(topic, { qos: 0 }, (error) => say(error ? { error: error.message } : { subscribed: topic }))
)
client.on("message", (received, payload) => say({ message: received, payload: payload.toString() }))
client.on("error", (error) => say({ error: error.message }))
client.on("close", () => say({ closed: true }))

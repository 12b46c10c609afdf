import { assert, describe, it } from "@effect/vitest"
import { PacketId, RetainedStore, Session, Topic } from "@mqttest/session"

const message = (topic: string, payload: string) => ({
  topic,
  payload: new TextEncoder().encode(payload),
  qos: 1 as const,
  retain: true,
  receivedAt: 0
})

describe("RetainedStore", () => {
  it("stores, replaces, clears with an empty payload, and matches filters", () => {
    const store = new RetainedStore.RetainedStore()
    store.set(message("a/b", "1"))
    store.set(message("a/b", "2"))
    store.set(message("a/c", "3"))
    store.set(message("$SYS/x", "4"))
    assert.strictEqual(store.size, 3)
    assert.strictEqual(new TextDecoder().decode(store.get("a/b")!.payload), "2")
    const levels = (Topic.parseFilter("#", 4) as Topic.ParsedFilter).levels
    assert.deepStrictEqual(
      store
        .match(levels)
        .map((m) => m.topic)
        .sort(),
      ["a/b", "a/c"]
    )
    store.set(message("a/b", ""))
    assert.isUndefined(store.get("a/b"))
    assert.strictEqual(store.size, 2)
  })
})

describe("PacketId", () => {
  it("wraps from 65535 to 1 and skips identifiers in flight", () => {
    const ids = PacketId.sequential(65534)
    const inUse = new Set([1])
    assert.deepStrictEqual(
      [1, 2, 3].map(() => ids.next((id) => inUse.has(id))),
      [65534, 65535, 2]
    )
  })

  it("reports exhaustion", () => {
    assert.isUndefined(PacketId.sequential().next(() => true))
  })
})

describe("Session", () => {
  it("allocates ids not in flight and bounds its queue", () => {
    const session = new Session.Session("c", 0, 2)
    const publish = (packetId: number, qos: 1 | 2) => ({
      _tag: "Publish" as const,
      topic: "t",
      payload: new Uint8Array(),
      qos,
      retain: false,
      dup: false,
      packetId
    })
    session.sent(publish(1, 1))
    assert.strictEqual(session.allocatePacketId(), 2)
    assert.isTrue(session.enqueue(message("t", "1")))
    assert.isTrue(session.enqueue(message("t", "2")))
    assert.isFalse(session.enqueue(message("t", "3")))
    assert.deepStrictEqual(
      session.queue.map((m) => new TextDecoder().decode(m.payload)),
      ["2", "3"]
    )
    assert.strictEqual(session.droppedFromQueue, 1)
    assert.strictEqual(session.dequeue()?.payload.length, 1)
  })

  it("tracks both QoS 2 flows through what happened: sent, PUBREC, PUBCOMP; PUBREC sent, PUBREL", () => {
    const session = new Session.Session("c", 0)
    session.sent({
      _tag: "Publish",
      topic: "t",
      payload: new Uint8Array(),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 7
    })
    assert.strictEqual(session.outbound.get(7)?.state, "pubrec")
    session.received(7)
    assert.strictEqual(session.outbound.get(7)?.state, "pubcomp")
    session.completed(7)
    assert.strictEqual(session.outbound.size, 0)
    session.awaitRelease(9)
    assert.isTrue(session.inboundQoS2.has(9))
    assert.isTrue(session.release(9))
    assert.isFalse(session.release(9))
  })

  it("keeps the client's expiry unless the test imposes one", () => {
    const session = new Session.Session("c", 60)
    session.expireAfter(0)
    assert.strictEqual(session.expiryInterval, 0)
    session.impose({ expiryOverride: 5000 })
    assert.strictEqual(session.expiryOverride, 5000)
  })
})

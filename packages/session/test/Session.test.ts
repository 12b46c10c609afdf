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
    session.outbound.set(1, {
      packetId: 1,
      state: "puback",
      publish: {
        _tag: "Publish",
        topic: "t",
        payload: new Uint8Array(),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 1
      }
    })
    assert.strictEqual(session.allocatePacketId(), 2)
    assert.isTrue(session.enqueue(message("t", "1")))
    assert.isTrue(session.enqueue(message("t", "2")))
    assert.isFalse(session.enqueue(message("t", "3")))
    assert.deepStrictEqual(
      session.queue.map((m) => new TextDecoder().decode(m.payload)),
      ["2", "3"]
    )
    assert.strictEqual(session.droppedFromQueue, 1)
  })
})

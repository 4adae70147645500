/// Open-addressing hash table from byte strings to dense ids 0, 1, 2, ... Looking a token up by
/// its UTF-8 bytes avoids creating a `String` per token on the hot path.
///
/// Each slot carries the key's hash, start and length, so a lookup touches one slot and the key
/// bytes only: no chain of dependent loads through side arrays.
struct ByteTable {
    private struct Slot {
        var hash: UInt32
        var id: Int32
        var start: Int32
        var length: Int32
        static let empty = Slot(hash: 0, id: -1, start: 0, length: 0)
    }

    private var arena: [UInt8] = []
    private var starts: [Int] = []
    private var hashes: [UInt64] = []
    private var slots: [Slot]
    private var mask: Int

    init(capacity: Int = 1024) {
        var size = 16
        while size * 7 < capacity * 10 { size <<= 1 }
        slots = [Slot](repeating: .empty, count: size)
        mask = size - 1
        starts.append(0)
    }

    var count: Int { hashes.count }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325  // FNV-1a, then a final mix for the low bits
        for b in key { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h ^ (h >> 29)
    }

    /// The key of `id`, as bytes.
    func key(_ id: Int) -> ArraySlice<UInt8> { arena[starts[id]..<starts[id + 1]] }

    func string(_ id: Int) -> String { String(decoding: key(id), as: UTF8.self) }

    @inline(__always)
    func find(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        let h = Self.hash(key)
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                var i = Int(truncatingIfNeeded: h) & mask
                while true {
                    let slot = slots[i]
                    if slot.id < 0 { return nil }
                    if slot.hash == tag && Int(slot.length) == key.count && Self.equal(arena, Int(slot.start), key) { return Int(slot.id) }
                    i = (i + 1) & mask
                }
            }
        }
    }

    @inline(__always)
    private static func equal(_ arena: UnsafeBufferPointer<UInt8>, _ start: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        for j in 0..<key.count where arena[start + j] != key[j] { return false }
        return true
    }

    /// The id of `key`, inserting it if new.
    @discardableResult
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>) -> (id: Int, inserted: Bool) {
        if let id = find(key) { return (id, false) }
        let h = Self.hash(key)
        let id = hashes.count
        hashes.append(h)
        let start = arena.count
        arena.append(contentsOf: key)
        starts.append(arena.count)
        place(Slot(hash: UInt32(truncatingIfNeeded: h >> 32), id: Int32(id), start: Int32(start), length: Int32(key.count)), h)
        if hashes.count * 10 > slots.count * 7 { grow() }
        return (id, true)
    }

    private mutating func place(_ slot: Slot, _ h: UInt64) {
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i].id >= 0 { i = (i + 1) & mask }
        slots[i] = slot
    }

    @discardableResult
    mutating func insert(_ key: String) -> (id: Int, inserted: Bool) {
        var key = key
        return key.withUTF8 { insert($0) }
    }

    func find(_ key: String) -> Int? {
        var key = key
        return key.withUTF8 { find($0) }
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: .empty, count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot.id >= 0 { place(slot, hashes[Int(slot.id)]) }
    }
}

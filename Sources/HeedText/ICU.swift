import CHeedICU

public enum ICU {
    /// Version of the ICU library Heed's tokenizer runs on.
    public static var version: String { String(cString: heed_icu_version()) }
}

import Foundation
import Testing

/// `heed export MODEL -o OUT.onnx` (ONNX Runtime's agreement is `make onnx-check`'s job).
@Suite struct ExportCommandTests {
    @Test func writesGraphTokenizerAndReference() throws {
        let scratch = Scratch()
        let (model, train) = try trainTinyModel(in: scratch, kind: "attention", epochs: 1)
        let onnx = scratch.path + "/m.onnx", reference = scratch.path + "/ref.jsonl"
        let r = try heed(["export", model, "-o", onnx, "--reference", train, "--reference-output", reference])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("opset 17"), "\(r.stdout)")
        let graph = try Data(contentsOf: URL(fileURLWithPath: onnx))
        #expect(graph.first == 0x08 && graph.dropFirst().first == 8, "ModelProto starts with ir_version 8")
        let tokenizer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.path + "/m.tokenizer.json"))) as! [String: Any]
        #expect((tokenizer["vocabulary"] as! [String]).prefix(2) == ["<pad>", "<unk>"])
        #expect(tokenizer["labels"] as! [String] == ["neg", "pos"])
        let lines = try String(contentsOfFile: reference, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 40)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect((first["ids"] as! [Int]).count == (first["attention"] as! [Double]).count)
        #expect((first["probabilities"] as! [Double]).count == 2)
    }

    @Test func usageErrorsAndOrthogonalModelsAsScan() throws {
        let scratch = Scratch()
        let (model, train) = try trainTinyModel(in: scratch, kind: "lstm", epochs: 1)
        let before = scratch.contents
        let a = try heed(["export", model, "-o", scratch.path + "/m.onnx", "--reference", train])
        #expect(a.status == 64 && a.stderr.contains("--reference and --reference-output go together"), "\(a.stderr)")
        let b = try heed(["export", scratch.path + "/missing.heed", "-o", scratch.path + "/m.onnx"])
        #expect(b.status != 0 && b.stderr.contains("missing.heed"), "\(b.stderr)")
        let t = try heed([
            "train", train, "--encoder", "orthogonal", "--embed", "4", "--hidden", "4", "--epochs", "1", "--quiet", "-o", scratch.path + "/o.heed",
        ])
        #expect(t.status == 0, "\(t.stderr)")
        let c = try heed(["export", scratch.path + "/o.heed", "-o", scratch.path + "/o.onnx"])
        #expect(c.status == 0, "\(c.stderr)")
        let graph = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/o.onnx"))
        #expect(graph.range(of: Data("Scan".utf8)) != nil, "an orthogonal encoder is spelled out as a Scan over time")
        #expect(!scratch.exists("m.onnx"))
        #expect(scratch.contents.filter { $0.hasPrefix(".") }.isEmpty, "no temporary files left: \(scratch.contents) vs \(before)")
        let help = try heed(["export", "--help"])
        #expect(help.stdout.contains("opset 17") && help.stdout.contains("--tokenizer"), "\(help.stdout)")
    }
}

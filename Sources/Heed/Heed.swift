@_exported import HeedText
@_exported import HeedNN

import Heed
print("heed (ICU \(ICU.version), BLAS \(BLAS.kernel))")

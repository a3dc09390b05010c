"""Models: encoders, heads (CRF, mean pooling, BiLSTM-CRF), decoding, named outputs."""

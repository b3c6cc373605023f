"""Faces: dlib's face descriptor in PyTorch, IResNet (ArcFace/AdaFace), detection, alignment."""

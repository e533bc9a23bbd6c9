"""The VAE (MLP or small conv net, three decoders) and the torch copy of the simplex witness."""
from empirical.models.vae import DECODERS, VAE, gaussian_kl_terms
from empirical.models.witness_head import TorchWitness

__all__ = ["DECODERS", "VAE", "gaussian_kl_terms", "TorchWitness"]

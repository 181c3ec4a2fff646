"""Dataset plugins for the real MER releases (SMIC, CASME II, SAMM), the MEGC2019 composite and CSV manifests."""

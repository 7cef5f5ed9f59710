"""MRF Studio's desktop application (Qt).  It owns no science: it calls ``mrfcore``."""

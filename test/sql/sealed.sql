SELECT encode(biocrypt.public_key(), 'hex') AS pk;

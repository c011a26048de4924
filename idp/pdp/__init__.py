"""Citizens' data rights and the city's duties under UU PDP (Law 27/2022): see docs/data-protection.md."""

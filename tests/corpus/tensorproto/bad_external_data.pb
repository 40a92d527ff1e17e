Bextj
locationw.binp
mov32 r10,1
exit
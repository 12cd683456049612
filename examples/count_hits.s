# The smallest filter: r0 = 1. Attach it anywhere and read the hit count:
#   bpflab trace --attach 'netif_receive_skb=examples/count_hits.s'
mov %r0, 1
exit

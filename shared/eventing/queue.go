package eventing

// queue is a min-heap of entries by virtual deadline.
type queue[M any] []*entry[M]

func (q queue[M]) Len() int { return len(q) }
func (q queue[M]) Less(a, b int) bool {
	if !q[a].deadline.Equal(q[b].deadline) {
		return q[a].deadline.Before(q[b].deadline)
	}
	return q[a].job.Enqueued.Before(q[b].job.Enqueued)
}
func (q queue[M]) Swap(a, b int) {
	q[a], q[b] = q[b], q[a]
	q[a].index, q[b].index = a, b
}
func (q *queue[M]) Push(x any) {
	e := x.(*entry[M])
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *queue[M]) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*q = old[:len(old)-1]
	return e
}

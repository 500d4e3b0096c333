# Decisions asked of the native dispatcher directly, as Runtime::Decision#run asks
# them but without a store or a count: for specs about what the engine
# decides from given counts and records.
#
#   request = native_request(dispatcher)           # a wake's :news request
#   outcome = native_decide(dispatcher, request, now_ms: 1_764_000_000_000,
#                           pools: [{ runnable: 3 }])
#   outcome.pools.first.send_quantity # => 3
#
# Each `decide` on the same open request replaces the last; nothing is sent
# until `settle`, which a spec need not call.
module NativeDecisions
  Bridge = MiddleManagement::Internal::Bridge
  POOL = { runnable: 0, running: 0, next_run_in: nil, top_busy_dyno: nil, busy_unnumbered: false,
           quantity: nil, memory: nil }.freeze

  def native_request(dispatcher, pool: 0)
    dispatcher.wake(pool, nil)
    seen = []
    Deadlines.await("the dispatcher to ask for a decision after a wake", saw: -> { "messages: #{seen}" }) do
      message = dispatcher.next_message(0.1)
      seen << message.class.name if message
      message if message.is_a?(Bridge::Request)
    end
  end

  def native_decide(dispatcher, request, now_ms:, pools:, window_opens_at: nil, shared_store: true)
    input = Bridge::Decide.new(request_id: request.id, now_ms: now_ms, shared_store: shared_store,
                               window_opens_at: window_opens_at,
                               pools: pools.map { |pool| Bridge::Pool.new(**POOL, **pool) })
    dispatcher.decide(input)
  end
end

RSpec.configure { |config| config.include NativeDecisions }

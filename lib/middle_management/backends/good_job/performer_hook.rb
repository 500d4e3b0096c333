module MiddleManagement
  module Backends
    module GoodJob
      # Prepended to GoodJob::JobPerformer, whose #next each of a worker's
      # threads calls to take and perform one job (3.99 and 4.x alike): the
      # one place GoodJob gives to take no new job. A draining dyno's threads
      # find none and wait for GoodJob's next poll or notification, by then
      # perhaps taking jobs again. Unlike Delayed Job's, a job GoodJob has
      # locked cannot be given back before it runs, so the drain is read at
      # most a second old (Worker::Drain::CHECK_EVERY); a job taken in that second
      # is seen busy and keeps its dyno up.
      module PerformerHook
        def next(...)
          MiddleManagement.watch
          return nil if MiddleManagement.draining?

          super
        end
      end
    end
  end
end

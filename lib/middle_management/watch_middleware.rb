module MiddleManagement
  # Rack middleware (the Railtie inserts it): the first request a process
  # serves says it is a web server, which is long-running, so it watches
  # the queue (see MiddleManagement.watch). Costs one comparison a request.
  class WatchMiddleware
    def initialize(app)
      @app = app
      @watching = nil
    end

    def call(env)
      unless @watching == Process.pid
        @watching = Process.pid
        MiddleManagement.watch
      end
      @app.call(env)
    end
  end
end

/** image.convert and image.conversion over NATS: Nubo's conversion calls (the api's /nubo/v1). */
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ImageOps, subjects } from '@nubo/contracts';
import { RpcServer } from '@nubo/messaging';
import { ImageConversionService } from './image-conversion.service';

@Injectable()
export class ImageConversionHandlers implements OnModuleInit {
  constructor(
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(ImageConversionService) private readonly conversions: ImageConversionService,
  ) {}

  onModuleInit(): void {
    this.rpc.handle(subjects.service('image', ImageOps.convert.op), ImageOps.convert, ({ caller, imageId, body }, ctx) =>
      this.conversions.convert(caller, imageId, body, ctx.requestId),
    );
    this.rpc.handle(subjects.service('image', ImageOps.conversion.op), ImageOps.conversion, ({ caller, imageId }) =>
      this.conversions.conversion(caller, imageId),
    );
  }
}
